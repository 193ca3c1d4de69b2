fn(s => ({ ...s, name: dataValue("person.name")(s) }));
field("a", 1);
fn(s => { console.log(sourceValue("$.data.person.age")(s)); return s; });
