fn(s => { 
