post('/created', { make: 'it' });
