/**
 * What of a settlement event the workflow may carry in its history (the Temporal UI shows
 * it as the settlement's type and amounts): the rest of the decrypted content (txid,
 * rate, fee, bills, cassettes) stays with the activities, which open the event themselves.
 */
export interface SettlementSummary {
  tx_type: 'cash_out' | 'cash_in';
  wire_sats: number;
  fiat_amount: string;
  fiat_code: string;
}

export function settlementSummary(c: {
  tx_type: 'cash_out' | 'cash_in';
  wire_sats: number;
  fiat_amount: string | number;
  fiat_code: string;
}): SettlementSummary {
  return {
    tx_type: c.tx_type,
    wire_sats: c.wire_sats,
    fiat_amount: String(c.fiat_amount),
    fiat_code: c.fiat_code,
  };
}
