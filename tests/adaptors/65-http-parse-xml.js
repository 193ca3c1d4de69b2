// Pinned upstream quirk (language-http 7.2.10): parseXML wraps the XML in `{ body }` before
// cheerio loads it, so nothing is parsed and `body` is empty. 68-http-xml-parser really parses XML.
parseXML('<list><item>1</item><item>2</item><item>3</item></list>', ($) => $('item').map((i, el) => $(el).text()).get());
