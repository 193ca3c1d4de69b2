fn((state) => {
  const d = dateFns.parse('2024-02-28 10:30', 'yyyy-MM-dd HH:mm', new Date(2000, 0, 1));
  return {
    ...state,
    data: {
      day: dateFns.format(d, 'yyyy-MM-dd'),
      time: dateFns.format(d, 'HH:mm'),
      weekday: dateFns.format(d, 'EEEE'),
      parsed: dateFns.format(dateFns.parse('02/01/2020', 'dd/MM/yyyy', new Date()), 'yyyy-MM-dd'),
      utc: dateFns.format(new Date(Date.UTC(2020, 0, 2, 3, 4, 5)), 'yyyy-MM-dd'),
    },
  };
});
