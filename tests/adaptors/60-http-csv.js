get('/csv', { parseAs: 'text' });
parseCsv($.data);
