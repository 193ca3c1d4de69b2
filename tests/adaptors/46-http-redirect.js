get('/redirect');
