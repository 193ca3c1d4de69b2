export default Adaptor;
export * from "./Adaptor";
export * as beta from "./beta";
export * as http from "./http";
export * as util from "./util";
import * as Adaptor from "./Adaptor";
