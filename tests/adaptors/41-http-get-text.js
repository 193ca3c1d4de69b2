get('/text');
