// Polls the progress of long work (an extract loading, an erasure) and moves the bar; reloads the
// page once it is finished, so the result is shown by the server-rendered page (which also works
// without JavaScript).
const box = document.querySelector('[data-progress-url]')

if (box && box.dataset.finished === 'false') {
  const bar = box.querySelector('progress')
  const poll = async () => {
    try {
      const response = await fetch(box.dataset.progressUrl, { headers: { Accept: 'application/json' } })
      if (response.ok) {
        const data = await response.json()
        if (data.finished) {
          window.location.reload()
          return
        }
        bar.value = data.percent
        for (const field of box.querySelectorAll('[data-field]')) {
          field.textContent = data[field.dataset.field]
        }
      }
    } catch (error) {
      // A failed poll is retried on the next tick; the page still reloads when done.
    }
    window.setTimeout(poll, 1000)
  }
  window.setTimeout(poll, 500)
}
