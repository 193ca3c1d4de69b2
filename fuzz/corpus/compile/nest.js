if (1) a: while (0) x?.y?.(z)[0]`t${++a}`;
