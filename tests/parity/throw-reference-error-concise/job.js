fn(s => notDefinedAnywhere + 1);
