fn(s => ({ ...s, errors: { "job-1": { message: "set by job" } } }));
