fn(s => { console.log("nothing"); });
