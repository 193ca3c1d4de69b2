request('PUT', '/echo/put', { body: { up: true } });
