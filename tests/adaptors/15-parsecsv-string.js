parseCsv('name,age\nann,30\nbob,41');
