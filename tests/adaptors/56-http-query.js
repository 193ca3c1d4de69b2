get('/echo/q', { query: { a: 1, b: 'x y' } });
