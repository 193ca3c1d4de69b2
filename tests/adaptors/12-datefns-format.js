fn((state) => {
  const d = dateFns.parseISO('2024-02-28T10:30:00Z');
  return {
    ...state,
    data: {
      day: dateFns.format(dateFns.addDays(d, 2), 'yyyy-MM-dd'),
      diff: dateFns.differenceInDays(dateFns.parseISO('2024-03-10'), dateFns.parseISO('2024-02-01')),
      leap: dateFns.isLeapYear(d),
      weekday: dateFns.format(d, 'EEEE'),
      iso: dateFns.formatISO(new Date(Date.UTC(2020, 0, 2, 3, 4, 5)), { representation: 'date' }),
    },
  };
});
