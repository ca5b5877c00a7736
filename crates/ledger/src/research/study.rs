//! `research.study`: a sponsor registers a research study, or replaces its list of
//! investigators.

use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{MemberId, OrgId, PublicKey, TxKind};
use serde::{Deserialize, Serialize};

use super::{StudyRecord, decode_investigators, encode_investigators, get, read_study_id};
use crate::error::TxError;
use crate::identity::{MemberKind, member_record, require_org, signer_admin};
use crate::state::{Overlay, keys};
use crate::{BlockContext, Event};

pub const KIND: TxKind = TxKind(0x0501);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterStudy {
    pub study: String,
    pub investigators: Vec<(OrgId, MemberId)>,
}

impl Encode for RegisterStudy {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::str(out, &self.study);
        encode_investigators(out, &self.investigators);
    }
}

impl Decode for RegisterStudy {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RegisterStudy {
            study: read_study_id(r)?,
            investigators: decode_investigators(r)?,
        })
    }
}

impl RegisterStudy {
    pub fn apply(
        &self,
        state: &mut Overlay<'_>,
        signer: &PublicKey,
        ctx: &BlockContext,
    ) -> Result<Vec<Event>, TxError> {
        let admin = signer_admin(state, signer)?;
        if let Some(existing) = get(state, &self.study)
            && existing.sponsor != admin.org
        {
            return Err(TxError::NotAuthorized);
        }
        let mut investigators = self.investigators.clone();
        investigators.sort();
        investigators.dedup();
        for (org, member) in &investigators {
            let role = require_org(state, org)?.role;
            // An investigator reads under a study consent for research: only members of
            // organisations whose role may claim that purpose can ever do so.
            if !crate::consent::policy::purpose_allowed(role, crate::consent::Purpose::Research) {
                return Err(TxError::PurposeNotForRole);
            }
            let m = member_record(state, org, member)?;
            if !m.active {
                return Err(TxError::MemberRevoked {
                    org: org.clone(),
                    member: member.clone(),
                });
            }
            if m.kind != MemberKind::Practitioner {
                return Err(TxError::NotAPractitioner {
                    org: org.clone(),
                    member: member.clone(),
                });
            }
        }
        let count = investigators.len() as u32;
        state.put_record(
            keys::study(&self.study),
            &StudyRecord {
                sponsor: admin.org.clone(),
                investigators,
                updated_at: ctx.height,
            },
        );
        Ok(vec![Event::StudyRegistered {
            study: self.study.clone(),
            sponsor: admin.org,
            investigators: count,
        }])
    }
}
