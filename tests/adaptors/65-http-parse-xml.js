parseXML('<list><item>1</item><item>2</item><item>3</item></list>', ($) => $('item').map((i, el) => $(el).text()).get());
