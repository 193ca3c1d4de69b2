get('/missing');
