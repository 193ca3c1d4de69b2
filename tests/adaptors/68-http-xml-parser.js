// language-http's own parseXML hands cheerio `{ body }` instead of the XML (see
// 65-http-parse-xml, a pinned upstream quirk); util.xmlParser parses the text itself.
util.xmlParser(
  '<list><item id="a">1</item><item id="b">2</item><item>3</item></list>',
  ($) => JSON.stringify({ items: $('item').map((i, el) => $(el).text()).get(), ids: $('item[id]').length })
);
