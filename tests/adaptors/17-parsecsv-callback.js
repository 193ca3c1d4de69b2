parseCsv($.data.csv, { cast: true }, (state, rows) => ({ ...state, rows, count: rows.length }));
