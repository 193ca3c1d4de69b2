get('/echo/h', { headers: { 'x-custom': 'yes' } });
