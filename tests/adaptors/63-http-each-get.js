each('$.data.ids[*]', get((state) => `/echo/${state.data}`));
