fn(async s => { await new Promise(r => setTimeout(r, 10)); return { ...s, waited: true }; });
