get('/redirect-twice');
