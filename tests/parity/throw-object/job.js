fn(s => { throw { code: 42, reason: "plain object" }; });
