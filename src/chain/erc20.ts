import { Interface, getAddress, type Log } from 'ethers';

export const ERC20_INTERFACE = new Interface([
  'function transfer(address to, uint256 amount) returns (bool)',
  'function balanceOf(address owner) view returns (uint256)',
  'function decimals() view returns (uint8)',
  'event Transfer(address indexed from, address indexed to, uint256 value)',
]);

const TRANSFER_TOPIC = ERC20_INTERFACE.getEvent('Transfer')!.topicHash;

/** The sum of `token`'s Transfer logs to `to` in these logs (whoever sent them). */
export function transferredTo(logs: readonly Log[], token: string, to: string): bigint {
  let total = 0n;
  for (const log of logs) {
    if (getAddress(log.address) !== getAddress(token) || log.topics[0] !== TRANSFER_TOPIC) continue;
    const parsed = ERC20_INTERFACE.parseLog({ topics: [...log.topics], data: log.data });
    if (parsed && getAddress(parsed.args[1]) === getAddress(to)) total += parsed.args[2] as bigint;
  }
  return total;
}
