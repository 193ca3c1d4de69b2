get('/gzip');
