fn((state) => ({
  ...state,
  name: dataValue('person.name')(state),
  first: dataValue('person.tags[0]')(state),
  missing: dataValue('person.nothing')(state) ?? null,
}));
