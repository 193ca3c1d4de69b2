post('/echo', { field: 'value', other: '2' }, { contentType: 'form' });
