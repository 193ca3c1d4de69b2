fn(s => new Promise(r => setTimeout(() => r(s), 3000)));
