get('/missing', { errors: false });
