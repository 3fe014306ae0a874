// The akamai-edgeauth package ships no types; this is the part the tests use.
declare module 'akamai-edgeauth' {
  export default class EdgeAuth {
    constructor(options: Record<string, unknown>);
    generateACLToken(acl: string | string[]): string;
    generateURLToken(url: string): string;
  }
}
