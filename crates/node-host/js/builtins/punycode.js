// The deprecated `punycode` built-in: toASCII through the host's IDNA support.
'use strict';
const { host } = binding;
module.exports = {
  toASCII: (d) => String(d).split('.').map((l) => (/[^\x00-\x7f]/.test(l) ? host.domainToASCII(l) : l)).join('.'),
  toUnicode: (d) => String(d),
  encode() { throw new Error('punycode.encode is not available in the OpenFn adaptor sandbox'); },
  decode() { throw new Error('punycode.decode is not available in the OpenFn adaptor sandbox'); },
  version: '2.1.0',
};
