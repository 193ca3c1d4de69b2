fn(s => { return notDefinedAnywhere + 1; });
