fn((state) => ({ ...state, data: { id: util.uuid(), other: util.uuid() }, distinct: util.uuid() !== util.uuid() }));
