post('/echo/t', 'raw body', { headers: { 'content-type': 'text/plain', 'x-custom': 'c' }, query: { page: 2 }, parseAs: 'text' });
