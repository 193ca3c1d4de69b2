fn(s => Promise.reject(new Error("rejected")));
