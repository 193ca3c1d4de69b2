get('/auth');
