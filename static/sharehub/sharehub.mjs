// Starts the GOV.UK Frontend components. Kept in a file, not inline, so a Content Security Policy
// without 'unsafe-inline' can be applied to every page.
import { initAll } from '../govuk/govuk-frontend.min.js'

document.body.classList.add('js-enabled', 'govuk-frontend-supported')
initAll()
