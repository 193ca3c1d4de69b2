fn(s => { console.log("open); return s; });
