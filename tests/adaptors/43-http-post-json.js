post('/echo', { x: 1, nested: { y: [1, 2] } });
