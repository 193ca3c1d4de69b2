/**
 * Execute a sequence of operations.
 */
export declare function execute(...operations: Operation[]): Operation;
export declare function fn(func: (state: any) => any): Operation;
export declare function each(path: string, operation: Operation): Operation;
export declare const VERSION: string;
export interface Operation { (state: any): any }
export type State = { data: any };
export { default as _ } from "lodash";
export declare namespace dateFns {
    function parse(s: string): Date;
}
