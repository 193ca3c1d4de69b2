map('$.data.items[*]', (item, index) => ({ label: `${index}:${item.name}`, double: item.score * 2 }));
