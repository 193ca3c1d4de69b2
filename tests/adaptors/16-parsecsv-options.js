parseCsv('a;b\n1;2\n3;4', { delimiter: ';', columns: false });
