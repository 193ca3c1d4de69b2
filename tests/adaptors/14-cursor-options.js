cursor($.lastPage, { defaultValue: 1, key: 'page' });
cursor(25, { key: 'offset', format: (v) => v * 2 });
