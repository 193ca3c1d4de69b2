fn((state) => ({ ...state, url: `${state.configuration.baseUrl}/json` }));
get($.url);
