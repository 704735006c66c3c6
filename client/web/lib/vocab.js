// The API's vocabularies (api.md, docs/contact-format.md) and their translated names:
// each value's label is the catalogue key common.<kind>.<value>.
import {t} from './i18n.js';

export const VOCAB = {
  channel: ['phone', 'sms', 'chat', 'messaging_app', 'social_media', 'email', 'walk_in', 'letter', 'other'],
  contact_type: ['counselling', 'information', 'referral', 'silent', 'hang_up', 'missed', 'abusive',
    'prank', 'wrong_number', 'thank_you', 'other'],
  gender: ['girl', 'boy', 'non_binary', 'unknown'],
  region: ['urban', 'town', 'rural', 'unknown'],
  relationship: ['self', 'parent', 'caregiver', 'relative', 'sibling', 'friend', 'partner', 'teacher',
    'professional', 'neighbour', 'stranger', 'other', 'unknown'],
  urgency: ['non_critical', 'urgent', 'critical'],
  action: ['direct_intervention', 'resources_recommended', 'referral.child_protection', 'referral.healthcare',
    'referral.law_enforcement', 'referral.mental_health', 'referral.other_organisation',
    'referral.school_counsellor', 'report.csam', 'other'],
  referral_to: ['referral.child_protection', 'referral.healthcare', 'referral.law_enforcement',
    'referral.mental_health', 'referral.other_organisation', 'referral.school_counsellor'],
  referral_state: ['made', 'accepted', 'declined', 'completed'],
  status: ['open', 'in_progress', 'closed'],
  priority: ['low', 'normal', 'high', 'critical'],
  role: ['frontend', 'counsellor', 'supervisor', 'network', 'admin'],
  verdict: ['use', 'caution', 'avoid'],
};

// Counselling contact types (the others are non-counselling contacts).
export const COUNSELLING = ['counselling', 'information', 'referral'];

// Status moves the API allows (api.md Cases).
export const NEXT_STATUS = {open: ['in_progress', 'closed'], in_progress: ['closed'], closed: ['in_progress']};

// The name of one value: vname('channel', 'phone') -> "Phone" in the current language.
export function vname(kind, value) {
  if (value === null || value === undefined || value === '') return '';
  const key = 'common.' + kind + '.' + value;
  const s = t(key);
  return s === key ? String(value) : s;
}

// [[value, name], ...] for a <select>.
export function voptions(kind) {
  return VOCAB[kind].map((v) => [v, vname(kind, v)]);
}
