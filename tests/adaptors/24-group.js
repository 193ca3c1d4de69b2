group($.data.items, 'kind');
