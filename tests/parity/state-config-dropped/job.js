fn(s => { console.log(s.configuration.user); return s; });
