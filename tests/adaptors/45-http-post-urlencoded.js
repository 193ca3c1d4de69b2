post('/echo', 'a=1&b=two', { headers: { 'content-type': 'application/x-www-form-urlencoded' } });
